"""HTTP handling that no framework owns: both adapters (functions-framework, Lambda) map their
requests onto these types and back."""
