"""driftbot as a GitHub Action: `main` reads the inputs and runs the check, publish or commit mode."""
