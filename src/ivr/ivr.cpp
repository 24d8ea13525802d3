#include "ivr/ivr.h"
