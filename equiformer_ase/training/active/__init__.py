"""Active learning on top of generation, fitting and shipping: explore with a committee,
label the frames it disagrees on, fine-tune, repeat (``learn``)."""
