"""Reference data: written recipes (EMT surfaces, GFN2-xTB MD17 molecules), resumable
generation into task-keyed frame files, and relabelling chosen frames with a reference (PBE)
into labelled data kept with the package. Knows nothing of fitting."""
