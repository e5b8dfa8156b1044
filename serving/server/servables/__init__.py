"""Servables."""
