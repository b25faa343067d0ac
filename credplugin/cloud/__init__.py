"""SDK plumbing shared by the providers of one cloud and owned by none of them: google-auth
(`google_auth`) and the Microsoft SDKs (`azure_sdk`). Loaded on a cache miss only; what a hit
reads about a cloud (credential file locations, authority hosts) lives in the light
top-level modules `google_adc` and `entra`.
"""
