"""Run a auditor node: ``python -m supplymesh_auditor --node-id … --node-dir … --network-config …``."""

from supplymesh.web.runner import run_node
from supplymesh_auditor.main import create_app

if __name__ == "__main__":
    run_node(create_app)
