"""Faithful HTTP emulators of Visma.net and Simple-Simon, with faults and data generators."""
