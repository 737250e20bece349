"""Pure domain: models, lifecycles, validation, formats. No I/O and no imports of other layers."""
