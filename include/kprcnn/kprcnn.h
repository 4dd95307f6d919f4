// kprcnn/kprcnn.h — everything in one include.
#pragma once

#include "kprcnn/detector.h"
#include "kprcnn/draw.h"
#include "kprcnn/error.h"
#include "kprcnn/eval.h"
#include "kprcnn/image.h"
#include "kprcnn/json.h"
#include "kprcnn/model_tools.h"
#include "kprcnn/options.h"
#include "kprcnn/pipeline.h"
#include "kprcnn/types.h"
#include "kprcnn/version.h"
