"""The API clients: every wire detail of Visma.net and Simon, and what they share."""
