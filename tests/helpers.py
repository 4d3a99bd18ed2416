"""Small helpers the model tests share."""

from mmlab import fs


def model_file(data: bytes, path: str = "/model/f", mode: int = fs.FMODE_READ) -> fs.File:
    """A file of the model filesystem (``generic_file_mmap``, ``model_readpage``)."""
    return fs.file_from_bytes(data, path, mode=mode)
