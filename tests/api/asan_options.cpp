// ASan defaults for api_tests. ASan keeps freed blocks in quarantine but
// leaves their bytes as they were, so a read of a freed block from code it
// does not instrument (libstdc++'s std::map iterator stepping off an erased
// node, in _Rb_tree_increment) goes unseen and usually "works". Filling freed
// blocks makes such a read crash at once; the OpenApi test
// ListsEveryMethodOfAPathOnceInLowerCase relies on it to catch the old
// Router::openapi() every time. ASAN_OPTIONS from the environment still apply
// on top of these.
#if defined(__SANITIZE_ADDRESS__)
extern "C" __attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return "max_free_fill_size=4096:free_fill_byte=190";
}
#endif
