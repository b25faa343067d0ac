"""The commands around the providers (cache, inspect, kubeconfig, doctor). Never imported on
the exec path: only `credplugin <tool> ...` loads them, through the click CLI."""
