"""credplugin: a kubectl exec credential plugin for Backstage's Kubernetes authProviders.

Deliberately empty of imports: this package is loaded on every kubectl command.
"""

__version__ = "0.1.0"
