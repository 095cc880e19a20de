class AuthorizerError(Exception): ...

class DummyAuthorizer:
    def __init__(self) -> None: ...
    def add_user(
        self,
        username: str,
        password: str,
        homedir: str,
        perm: str = ...,
        msg_login: str = ...,
        msg_quit: str = ...,
    ) -> None: ...
    def add_anonymous(self, homedir: str, **kwargs: str) -> None: ...
