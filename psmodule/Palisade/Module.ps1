#
# Palisade.psm1 — the Palisade module: cmdlets that manage palisaded through libpalisade.
#
# All protocol work (frames, hello, request ids, events, cancel) stays in the C library
# (psmodule/native/palisade.h); this file only turns cmdlet parameters into an op and its
# JSON arguments, and the JSON results into typed objects and ErrorRecords.
#
# The P/Invoke declarations are emitted with System.Reflection.Emit the first time a cmdlet
# needs the library, not compiled with Add-Type at import: Add-Type starts the C# compiler
# (0.4 to 0.6 s measured on the test machine, more when it is cold or busy), while the
# emitted type costs about a tenth of that on first use and nothing at import
# (bench/psmodule_import.sh prints both). No .NET SDK is needed to build or install. The library is taken from beside this file (a built
# or staged module folder) or, failing that, from the loader's search path (the installed
# /usr/lib/<triplet>/libpalisade.so.0).
#
# One connection per cmdlet invocation: handles are not shared between threads (the library
# is thread-compatible only), so ThreadJobs (-AsJob) and parallel runspaces get their own.
#
# Internal helpers return an ErrorRecord instead of throwing it (Test-PalisadeError tells):
# a `throw` caught inside the module would still land in the caller's -ErrorVariable.
#
# The module's source is split by noun: this file (module-wide: the notes above, strict
# mode), Private/*.ps1 (helpers shared by the cmdlets: the native binding, JSON, display
# names, error records, calls, object builders, parameter helpers) and Public/*.ps1 (one noun
# each, with the exported cmdlets and the helpers only that noun uses). psmodule/assemble.cmake
# joins them at staging into the one Palisade.psm1 that is staged and installed, in this
# order: Module.ps1, Private/*.ps1 and the settings list (KnownPreferences.ps1, generated from
# the C settings registry by palisade-settings-dump), Public/*.ps1, each group sorted by file
# name. One file rather than dot-sourcing each: bench/RESULTS.md has the measurement.
#
Set-StrictMode -Version 3.0
