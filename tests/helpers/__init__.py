"""Helpers shared by the tests: analytic references, small meshes and scenes, synthetic results,
small configs. Imported as `tests.helpers.<module>` (tests is a package; no sys.path edits)."""
