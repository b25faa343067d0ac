"""Plumbing shared by the providers of one cloud and owned by none of them.

`google_adc` and `entra` are read on every call of their providers (file locations, well-known
endpoints, a shared option): they import nothing heavy. `google_auth` and `azure_sdk` wrap
the SDKs and are loaded on a cache miss only.
"""
