"""`python -m bench [name ...]`: run the named benchmarks (all when none is named); each prints its figures."""

import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import bench


def main() -> None:
    names = sys.argv[1:] or sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    for name in names:
        importlib.util.find_spec(f"bench.{name}") or sys.exit(f"no benchmark named {name}")
        print(f"== bench.{name}", flush=True)
        subprocess.run([sys.executable, "-m", f"bench.{name}"], check=True, cwd=Path(__file__).parent.parent)


if __name__ == "__main__":
    main()
