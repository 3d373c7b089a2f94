"""Looking at pictures: perceptual hashes of the school photo library, faces, the school badge, video frames."""
