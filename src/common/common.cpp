// Anchor translation unit: common/ is header-only today.
#include "common/clock.h"
#include "common/result.h"
