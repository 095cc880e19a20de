# Minimal stubs for pyftpdlib (it ships no type information): only what the FTP adapter's tests
# use to serve a folder.

__ver__: str
