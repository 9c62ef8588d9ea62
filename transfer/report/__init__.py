"""From records to what people read: statistics over seeds, markdown tables, figures, the claims and REPORT.md.
Nothing here runs a model."""
