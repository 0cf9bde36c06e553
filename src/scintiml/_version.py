"""The package version. Imports nothing, so any module (and the build) can read it."""

__version__ = "0.7.5"
