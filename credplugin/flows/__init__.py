"""Browser-login machinery used by the oidc and google providers (aks leaves it to MSAL):
PKCE, a one-shot loopback redirect listener, and the browser launcher. Nothing here knows of
kubectl, the cache or stdout."""
