"""Pure array math with no registry: convolutions and pools in their 'lax' and 'shift' forms
(hand-written backward passes), batch normalisation, conv units and initial weights."""
