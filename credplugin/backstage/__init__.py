"""Backstage's Kubernetes configuration, turned into kubeconfig entries that run credplugin.

    appconfig   the app-config files, merged and substituted as Backstage does
    clusters    their clusters -> one kubeconfig Entry each, plus notes for the person

Not on the exec path: only `credplugin kubeconfig ...` imports this package.
"""
