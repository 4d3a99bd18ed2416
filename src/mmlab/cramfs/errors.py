"""cramfs errors, warnings and exit codes: the verdicts of util-linux ``disk-utils/fsck.cramfs.c``.

One root, :class:`CramfsError`, for everything cramfs.  Every error that
comes from the image carries the byte offset (``.offset``, absolute in the
image file) and the on-disk field (``.field``) it is about, and its message
names both, e.g. ``inode at 0x1c4: namelen: name length is 0``.
Operational errors (a file that cannot be opened) have ``offset = None``.

Raw ``construct``/``zlib``/``struct`` exceptions never leave this package:
readers catch them and re-raise one of these with the offset and field.

The kernel has no such hierarchy (it logs with ``pr_err`` and returns
``-EINVAL`` for every refusal: ``cramfs_read_super``, `fs/cramfs/inode.c @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L512>`_); the
split below follows the verdicts ``fsck.cramfs`` (util-linux
``disk-utils/fsck.cramfs.c``) distinguishes, and the exit codes are its
``FSCK_EX_*`` values from util-linux ``include/exitcodes.h``.
"""

from __future__ import annotations

__all__ = [
    "CramfsError",
    "CramfsFormatError",
    "CramfsMagicError",
    "CramfsTruncatedError",
    "CramfsUnsupportedError",
    "CramfsCRCError",
    "CramfsDataError",
    "CramfsLimitError",
    "CramfsUnsafePathError",
    "CramfsNotFoundError",
    "CramfsIOError",
    "CramfsBuildError",
    "CramfsWarning",
    "EXIT_OK",
    "EXIT_UNCORRECTED",
    "EXIT_ERROR",
    "EXIT_USAGE",
]

# fsck.cramfs exit codes: the FSCK_EX_* values of util-linux include/exitcodes.h (v2.38).
# Defined once here (no imports, cheap) for mmlab.cramfs.check and ``mmlab cramfs check``.
EXIT_OK = 0  #: FSCK_EX_OK: no errors
EXIT_UNCORRECTED = 4  #: FSCK_EX_UNCORRECTED: file system errors left uncorrected
EXIT_ERROR = 8  #: FSCK_EX_ERROR: operational error
EXIT_USAGE = 16  #: FSCK_EX_USAGE: usage or syntax error


class CramfsError(Exception):
    """Root of all cramfs errors.

    ``CramfsError(problem, offset=..., field=..., where=..., path=...)`` renders as
    ``"<path>: <where> at 0x<offset>: <field>: <problem>"``; parts that are
    ``None`` are left out.  ``where`` names the structure (``"superblock"``,
    ``"inode"``, ``"block pointer"``, ...), ``field`` the on-disk field
    (``"namelen"``, ``"fsid.crc"``, ...), ``path`` the file in the image the
    damage belongs to (``"/bin/sh"``) when the caller knows it
    (:meth:`with_path`).

    Model helper: no kernel counterpart.
    """

    def __init__(
        self,
        problem: str,
        *,
        offset: int | None = None,
        field: str | None = None,
        where: str | None = None,
        path: str | None = None,
    ) -> None:
        self.problem = problem
        self.offset = offset
        self.field = field
        self.where = where
        self.path = path
        super().__init__(self._render())

    def with_path(self, path: str) -> CramfsError:
        """The same error (same class, offset, field) saying which file it is about."""
        return type(self)(self.problem, offset=self.offset, field=self.field,
                          where=self.where, path=path)

    def _render(self) -> str:
        parts = [self.path] if self.path else []
        if self.offset is not None:
            parts.append(f"{self.where or 'image'} at 0x{self.offset:x}")
        elif self.where:
            parts.append(self.where)
        if self.field:
            parts.append(self.field)
        parts.append(self.problem)
        return ": ".join(parts)


class CramfsFormatError(CramfsError):
    """A field holds a value the format does not allow (bad offset, bad length, ...).

    Model helper: no kernel counterpart.
    """


class CramfsMagicError(CramfsFormatError):
    """No cramfs magic at offset 0 or 512 (the kernel logs ``"wrong magic"``).

    Kernel: ``cramfs_read_super`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L512>`_.
    """


class CramfsTruncatedError(CramfsFormatError):
    """A structure or data block runs past the end of the image.

    Model helper: no kernel counterpart.
    """


class CramfsUnsupportedError(CramfsFormatError):
    """Feature flags outside ``CRAMFS_SUPPORTED_FLAGS`` (``"unsupported filesystem features"``).

    Kernel: ``cramfs_read_super`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L512>`_.
    """


class CramfsCRCError(CramfsError):
    """``fsid.crc`` does not match the CRC32 of the image (crc field zeroed).

    The kernel never checks the CRC; fsck.cramfs says ``"crc error"``.

    util-linux: ``test_crc`` in `disk-utils/fsck.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/fsck.cramfs.c>`_.
    """


class CramfsDataError(CramfsError):
    """A data block does not inflate, or inflates to the wrong size.

    Model helper: no kernel counterpart.
    """


class CramfsLimitError(CramfsError):
    """An absurd size or count (more inodes than the image can hold, deep trees, ...).

    Model helper: no kernel counterpart.
    """


class CramfsUnsafePathError(CramfsError):
    """A name or symlink that would escape (or clobber) the extraction directory.

    Model helper: no kernel counterpart.
    """


class CramfsNotFoundError(CramfsError):
    """A path looked up in the image does not exist (a negative dentry in the kernel).

    Kernel: ``cramfs_lookup`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L759>`_.
    """


class CramfsIOError(CramfsError):
    """The image or the target directory cannot be read or written (operational error).

    Model helper: no kernel counterpart.
    """


class CramfsBuildError(CramfsError):
    """The writer cannot represent the input (value too wide for a field, file too big, ...).

    Model helper: no kernel counterpart.
    """


class CramfsWarning(UserWarning):
    """What mkfs.cramfs prints as ``warning: ...`` (the image is still written).

    Turn them into errors like ``mkfs.cramfs -E`` with
    ``warnings.simplefilter("error", CramfsWarning)``.

    util-linux: ``main`` in `disk-utils/mkfs.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
    """
