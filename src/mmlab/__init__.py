"""mmlab: a model of Linux memory management (v4.15) for the cramfs XIP course."""

__version__ = "0.1.0"
