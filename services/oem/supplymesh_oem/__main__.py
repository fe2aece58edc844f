"""Run a oem node: ``python -m supplymesh_oem --node-id … --node-dir … --network-config …``."""

from supplymesh.web.runner import run_node
from supplymesh_oem.main import create_app

if __name__ == "__main__":
    run_node(create_app)
