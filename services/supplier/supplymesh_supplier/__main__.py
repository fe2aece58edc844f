"""Run a supplier node: ``python -m supplymesh_supplier --node-id … --node-dir … --network-config …``."""

from supplymesh.web.runner import run_node
from supplymesh_supplier.main import create_app

if __name__ == "__main__":
    run_node(create_app)
