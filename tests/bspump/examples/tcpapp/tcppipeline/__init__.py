from .app import BlankAppApplication
