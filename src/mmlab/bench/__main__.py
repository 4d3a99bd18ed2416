"""`python -m mmlab.bench [NAME ...]`: run every benchmark module (or the named ones)."""

import importlib
import pkgutil
import sys

import mmlab.bench as package


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if m.name.endswith("_bench")
    )
    for name in names:
        module = importlib.import_module(f"mmlab.bench.{name}")
        print(f"== {name} ==", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
