"""The trust boundary in code: containment of project code, the one masker, process hardening,
the one SQL identifier quoter and the one Markdown escaper."""
