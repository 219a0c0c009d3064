// Pairs with disable_warnings.hpp.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
