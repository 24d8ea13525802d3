#include "live/live.h"
