"""Outside-In: customer-centred gap analysis with design-based statistics."""

__version__ = "0.1.0"
