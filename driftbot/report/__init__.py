"""The Report value (model), its renderings (render, comment) and their templates and JSON schema."""
