"""What an archived work order becomes in Visma.net: the document and its PDFs."""
