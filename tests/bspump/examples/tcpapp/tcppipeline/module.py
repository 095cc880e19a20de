from pumpcore_bspump import asab

from .service import BlankService


class BlankModule(asab.Module):
    def __init__(self, app):
        super().__init__(app)
        self.BlankService = BlankService(app)
