/* SPDX-License-Identifier: MIT */
/*
 * tetri/tetri.h - everything a module author needs, in one include.
 * See docs/modules.md.
 */
#ifndef TETRI_TETRI_H
#define TETRI_TETRI_H

#include "abi.h"
#include "config.h"
#include "decoder.h"
#include "devset.h"
#include "error.h"
#include "host.h"
#include "model.h"
#include "module.h"
#include "ops.h"
#include "policy.h"
#include "tensor.h"

#endif /* TETRI_TETRI_H */
