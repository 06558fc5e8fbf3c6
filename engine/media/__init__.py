"""Decoding and preprocessing shared by the app, training and export, so all three see identical inputs."""
