"""Export figures (PNG, SVG, PDF with a matplotlib script), run data and specs.

The entry point is `studio.export.dialog.open_export_dialog`.
"""
