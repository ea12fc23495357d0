"""Reading and writing the files the core works on, and the geometry applied to training samples.

- `i2i.data.images`: robust image decoding (any mode, EXIF orientation, size limits, corrupt files
  become `InputError`), image <-> tensor conversion, atomic saving, sample sheets, folder listing.
- `i2i.data.video`: streaming video decoding and atomic video encoding (PyAV).
- `i2i.data.transforms`: one random crop/flip applied identically to every image of a sample.

Nothing is imported here on purpose: these modules pull in torch and PIL, and importing the package
must stay cheap for code (such as the plugin manager) that only needs a submodule's name.
"""
