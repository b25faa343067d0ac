"""Login machinery shared by the client-side providers: PKCE, a one-shot loopback redirect
listener, and the browser launcher. Nothing here knows of kubectl, the cache or stdout."""
