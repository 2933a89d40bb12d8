"""The local world for demos and tests: Anvil nodes, protocol deployment, contract build."""
