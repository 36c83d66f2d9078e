"""The avatar renderer: its own process, a moderngl context, Live2D models and a built-in avatar."""
