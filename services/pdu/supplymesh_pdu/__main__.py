"""Run a pdu node: ``python -m supplymesh_pdu --node-id … --node-dir … --network-config …``."""

from supplymesh.web.runner import run_node
from supplymesh_pdu.main import create_app

if __name__ == "__main__":
    run_node(create_app)
