"""The ``equiformer-ase`` command."""

from __future__ import annotations

import argparse
import platform
import sys


def _info(args: argparse.Namespace) -> int:
    import e3nn
    import torch

    from . import __version__
    from .potential import list_potentials, read_header, resources_path

    print(f"equiformer-ase {__version__}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, e3nn {e3nn.__version__}")
    devices = ["cpu"] + [f"cuda:{k} ({torch.cuda.get_device_name(k)})" for k in range(torch.cuda.device_count())]
    print(f"devices: {', '.join(devices)}")
    try:
        import torch_cluster

        print(f"torch-cluster {torch_cluster.__version__} (GPU neighbour lists)")
    except ImportError:
        print("torch-cluster not installed (GPU neighbour lists fall back to brute force / matscipy)")
    names = list_potentials()
    print(f"shipped potentials ({len(names)}):")
    for name in names:
        header = read_header(resources_path(name))
        print(f"  {name}: elements {','.join(header['elements'])}, cutoff {header['cutoff']} A, "
              f"preset {header['config']['preset_name']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="equiformer-ase", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, devices and shipped potentials").set_defaults(func=_info)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
