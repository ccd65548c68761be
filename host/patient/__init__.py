"""A virtual patient and a CGM in the loop with the emulated pod (issue 11).

The patient (the UVA/Padova 2008 model from ``simglucose``) lives on the host, advances on the
pod's virtual clock and receives exactly the insulin the pod's mechanism pushed, stroke by stroke
at each stroke's own time (bench op ``strokes``). A CGM reads it every 5 minutes; the handset's
low-glucose suspend stops the pod through the real protocol.

Modules: ``model`` (the patient), ``cgm`` (sensor, trend, alerts, the CGM log), ``lgs``
(low-glucose suspend), ``scenario`` (what a run is, checked), ``podproc`` (one firmware process),
``loop`` (one closed-loop run), ``report`` (figures, CSV, PNG), ``population`` (many runs, locally
or on a Dask cluster).
"""
