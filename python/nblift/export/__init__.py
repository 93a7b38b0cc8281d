"""Hand a run to another launcher: `nblift export skypilot` writes a SkyPilot task running the bundle."""
